"""The report of a run: records from the journal, the model, Markdown and HTML.

records.py reads a run from the journal (``RunRecords``); model.py builds the report from the
records (``build_report`` -> ``RunReport``, pure); markdown.py and html.py render it;
formatting.py holds what both renderings share; privatefile.py writes the files (mode 0600).
"""

from .html import render_html
from .markdown import render_markdown
from .model import RunReport, build_report
from .records import JournalReader, RunRecords

__all__ = ["JournalReader", "RunRecords", "RunReport", "build_report", "render_html",
           "render_markdown"]
