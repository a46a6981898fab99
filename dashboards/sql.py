"""The SQL target of a panel for Grafana's PostgreSQL data source, as a grafana-foundation-sdk dataquery.

The SDK ships no builder for the SQL data sources, so this is one in its terms: a `Builder` whose
`build()` gives a `Dataquery` that serialises as Grafana's PostgreSQL query model (raw SQL in code mode).
"""

from __future__ import annotations

from typing import Literal

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model

DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE_UID = "ioc-store"

Format = Literal["table", "time_series"]


def datasource_ref() -> model.DataSourceRef:
    return model.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


class PostgresQuery(cogvariants.Dataquery):
    """One target: raw SQL as a table, or as time series (a `time` column, numeric values, `metric`)."""

    def __init__(self, sql: str, format: Format, ref_id: str) -> None:
        self.sql = sql.strip()
        self.format = format
        self.ref_id = ref_id

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": datasource_ref().to_json(),
            "editorMode": "code",
            "format": self.format,
            "rawQuery": True,
            "rawSql": self.sql,
            "refId": self.ref_id,
        }


class SqlQuery(cogbuilder.Builder[PostgresQuery]):
    def __init__(self, sql: str, format: Format = "table", ref_id: str = "A") -> None:
        self._internal = PostgresQuery(sql, format, ref_id)

    def build(self) -> PostgresQuery:
        return self._internal
