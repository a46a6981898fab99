"""The time-series store: schema, migrations, and the queries and writers built on it."""
