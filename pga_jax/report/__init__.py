"""Table 1 (FID mean ± standard error over runs) and Fig. 3 (training curves) from runs: the
library is `table.py` (its docstring: what is written and how), the command line
`__main__.py`."""

from pga_jax.report.table import (
    Cell,
    ReportError,
    Table,
    aggregate,
    column_label,
    copy_artefacts,
    find_runs,
    format_cell,
    load_records,
    mean_and_stderr,
    plot_curves,
    row_label,
    runs_csv,
    to_csv,
    to_markdown,
    write_report,
)

__all__ = [
    "Cell",
    "ReportError",
    "Table",
    "aggregate",
    "column_label",
    "copy_artefacts",
    "find_runs",
    "format_cell",
    "load_records",
    "mean_and_stderr",
    "plot_curves",
    "row_label",
    "runs_csv",
    "to_csv",
    "to_markdown",
    "write_report",
]
