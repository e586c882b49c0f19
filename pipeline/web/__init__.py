"""The web console (`powerx serve`): views of a release repo as HTML pages and as JSON.

A view is a function from the repo (read at one revision) and the request's parameters to
plain data (`views.View`); a jinja2 template renders that data as a page, and the same data
is the view's JSON. Only the actions (`actions.Action`, POST) write, through the same
library functions as the CLI.
"""
