/* vector_diskann.c - placeholder until the module lands. */
typedef int lsq_vector_diskann_placeholder;
