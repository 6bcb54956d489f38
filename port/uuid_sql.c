/* uuid_sql.c - placeholder until the module lands. */
typedef int lsq_uuid_sql_placeholder;
