"""What both front ends show: figures, rows and option fields, formatted once.

The CLI (app/cli) and the workbench (app/tui) import from here and never from each other
(docs/architecture.md, "Import rules")."""
