"""Moving content in and out: WordPress import, Markdown export and import, JSON export."""
