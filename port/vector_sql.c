/* vector_sql.c - placeholder until the module lands. */
typedef int lsq_vector_sql_placeholder;
