"""Print the target table's DDL (`make ddl` writes it to sql/create_table.sql)."""

from ingest.schema import render_create_table

DEFAULT_TABLE = "public.appsflyer_events"

if __name__ == "__main__":
    print(render_create_table(DEFAULT_TABLE), end="")
