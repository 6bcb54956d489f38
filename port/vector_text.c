/* vector_text.c - placeholder until the module lands. */
typedef int lsq_vector_text_placeholder;
