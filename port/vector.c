/* vector.c - placeholder until the module lands. */
typedef int lsq_vector_placeholder;
