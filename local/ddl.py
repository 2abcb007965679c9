"""Print the example table's DDL (`make ddl` writes it to sql/create_table.sql)."""

from local.appsflyer import DEFAULT_TABLE, render_create_table

if __name__ == "__main__":
    print(render_create_table(DEFAULT_TABLE), end="")
