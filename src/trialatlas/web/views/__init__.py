"""View models for the HTML pages: plain data built from the store and the search layer.

Each module turns what a page needs into values its template only has to lay out, so the
templates hold no logic beyond loops and conditionals and every value reaches them as text
that Jinja2 escapes.
"""
