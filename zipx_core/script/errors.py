class ScriptError(ValueError):
    """A screenplay that cannot be read, naming the file, the line and what was wrong."""

    def __init__(self, file: str, line: int | None, reason: str):
        self.file, self.line, self.reason = file, line, reason
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {reason}")
