"""Front ends: the headless CLI (app.cli) and the Textual workbench (app.tui)."""
