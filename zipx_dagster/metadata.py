"""What a person sees in the UI: sortable tables, small markdown tables and thumbnail strips."""

import base64

import dagster as dg

from zipx_core.generation import ledger_by_stage
from zipx_core.records import Records


def table(columns: dict[str, str], rows: list[list[object]], limit: int = 500,
          notes: dict[str, str] | None = None) -> dg.MetadataValue:
    """A table the UI shows with its schema and can sort: `columns` is name -> type
    (string, int, float, bool), `notes` name -> what the column means. Cells that are
    lists are joined; None stays empty."""
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind, description=(notes or {}).get(name))
                                     for name, kind in columns.items()])
    records = [dg.TableRecord({name: _cell(value) for name, value in zip(columns, row)}) for row in rows[:limit]]
    return dg.MetadataValue.table(records, schema)


def _cell(value: object) -> str | int | float | bool | None:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple, set)):
        return ", ".join(map(str, value))
    return str(value)


def markdown_table(headers: list[str], rows: list[list[object]], limit: int = 200) -> dg.MetadataValue:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(str(cell).replace("|", "/").replace("\n", " ") for cell in row) + " |")
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more rows")
    return dg.MetadataValue.md("\n".join(lines))


def png_markdown(png: bytes, alt: str) -> dg.MetadataValue:
    """Dagster has no image metadata type; a small data-URI PNG renders in the UI."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


VERDICT_COLUMNS = {"shot": "string", "status": "string", "attempts": "int", "continuity": "float", "fixed": "string",
                   "decision": "string", "reviewer": "string", "reviewed at": "string", "note": "string", "reason": "string"}


def verdicts_table(report) -> dg.MetadataValue:
    """The gate's outcome per shot (zipx_core.qa.gate.GateReport), with the reviewer's call where there was one."""
    rows = [[shot, status, attempts, continuity if continuity != "" else None, fixed,
             o.review_decision, o.reviewer, o.reviewed_at, o.review_note, reason]
            for (shot, status, attempts, continuity, fixed, reason), o in zip(report.verdict_rows(), report.outcomes)]
    return table(VERDICT_COLUMNS, rows)


def cost_rollup(store, drama: str, episode: str, budget_episode_usd: float | None, budget_drama_usd: float | None) -> dict:
    """The episode's ledger by stage, the episode's and the drama's spend, and what each
    budget leaves. The drama's ledger is zipx_core.generation.Budget's record: a charge per
    request, with its episode (None: the drama's stills, which no episode budget pays)."""
    charges = ((Records(store).spend(drama).get() or {}).get("charges") or {}).values()
    spent = {"episode": round(sum((c["usd"] for c in charges if c.get("episode") == episode), 0.0), 4),
             "drama": round(sum((c["usd"] for c in charges), 0.0), 4)}
    budgets = {"episode": budget_episode_usd, "drama": budget_drama_usd}
    rows = [[f"{scope} {name}", budgets[scope], spent[scope], None if budgets[scope] is None else round(budgets[scope] - spent[scope], 4)]
            for scope, name in (("episode", episode), ("drama", drama))]
    return {
        "cost_usd": dg.MetadataValue.float(spent["episode"]),
        "drama_cost_usd": dg.MetadataValue.float(spent["drama"]),
        "cost_by_stage": table({"stage": "string", "usd": "float"},
                               [[stage, usd] for stage, usd in ledger_by_stage(store, drama, episode).items()],
                               notes={"stage": "sheet and plate are the drama's stills, shared by all its episodes"}),
        "budgets": table({"scope": "string", "budget_usd": "float", "spent_usd": "float", "left_usd": "float"}, rows,
                         notes={"budget_usd": "the Generation resource's budget_episode_usd / budget_drama_usd; empty: no limit"}),
    }
