"""Essential built-in plugins: registered like external ones, never blockable."""
