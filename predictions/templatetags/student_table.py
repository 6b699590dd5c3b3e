"""The dashboard's sortable column headers."""
from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_header(context, key: str, label: str, descending_first: bool = False) -> str:
    """A <th> whose link sorts by `key` (again: the other way), keeping the search and filters; the sorted
    column carries aria-sort. `descending_first` for columns where the largest value is the interesting one."""
    current = context["sort"]
    if current == key:
        next_sort, aria_sort, arrow = f"-{key}", "ascending", "▲"
    elif current == f"-{key}":
        next_sort, aria_sort, arrow = key, "descending", "▼"
    else:
        next_sort, aria_sort, arrow = (f"-{key}" if descending_first else key), "", ""
    query = context["request"].GET.copy()
    query["sort"] = next_sort
    query.pop("page", None)
    hint = "sort the other way" if aria_sort else "sort by this column"
    return format_html(
        '<th scope="col"{}><a href="?{}" data-sort="{}">{}{}<span class="sr-only"> ({})</span></a></th>',
        format_html(' aria-sort="{}"', aria_sort) if aria_sort else "",
        query.urlencode(), key, label, format_html(' <span aria-hidden="true">{}</span>', arrow) if arrow else "", hint,
    )
