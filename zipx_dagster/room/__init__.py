"""The review room: a web page beside the Dagster UI where people review a drama's cast
sheet, storyboards, flagged shots and finished episodes, and decide. `make dev` starts
it (http://127.0.0.1:3001); on its own: `python -m zipx_dagster.room`."""
