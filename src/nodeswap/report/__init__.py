"""The report of a run: records from the journal, the model, Markdown and HTML.
"""
