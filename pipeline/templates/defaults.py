"""The pipeline's own subject and body templates, for a job that gives no text of its own.

They read only the `booking` variable (pipeline/templates/variables.py), which every job has, so
they render for any booking. The subject is at most 255 characters whatever the names are.
"""

from __future__ import annotations

__all__ = ["DEFAULT_HTML_BODY", "DEFAULT_SUBJECT", "DEFAULT_TEXT_BODY"]

# "Interview: Dana Diaz with Bob Baker, Erin Evans"; "Appointment: ..." for a customer; "Meeting:
# <first external attendee>" without either; up to three interviewers or staff, then "and others".
DEFAULT_SUBJECT = """\
{%- capture text -%}
  {%- if booking.candidate -%}Interview: {{ booking.candidate.display }}
  {%- elsif booking.customer -%}Appointment: {{ booking.customer.display }}
  {%- elsif booking.external_attendees.size > 0 -%}Meeting: {{ booking.external_attendees.first.display }}
  {%- else -%}Meeting
  {%- endif -%}
  {%- assign hosts = booking.interviewers | concat: booking.staff -%}
  {%- for host in hosts limit: 3 -%}
    {%- if forloop.first %} with {% else %}, {% endif -%}
    {{ host.display }}
  {%- endfor -%}
  {%- if hosts.size > 3 %} and others{% endif -%}
{%- endcapture -%}
{{ text | truncate: 255 }}"""

# Who, when (in the event's zone, then in each other zone an attendee is in), where and links.
DEFAULT_TEXT_BODY = """\
{%- if booking.candidate -%}Candidate: {{ booking.candidate.display }}
{% endif -%}
{%- if booking.customer -%}Customer: {{ booking.customer.display }}
{% endif -%}
{%- if booking.interviewers.size > 0 -%}Interviewers: {{ booking.interviewers | map: "display" | join: ", " }}
{% endif -%}
{%- if booking.staff.size > 0 -%}Staff: {{ booking.staff | map: "display" | join: ", " }}
{% endif -%}
{%- if booking.when != "" -%}When: {{ booking.when }}
{% for zone in booking.times offset: 1 -%}
{{ "      " }}{{ zone.when }}: {{ zone.attendees | map: "display" | join: ", " }}
{% endfor -%}
{%- endif -%}
{%- if booking.location != "" -%}Where: {{ booking.location }}
{% endif -%}
{%- for link in booking.links -%}
{%- if link.label == link.url -%}Link: {{ link.url }}{%- else -%}{{ link.label }}: {{ link.url }}{%- endif %}
{% endfor -%}"""

# The same as HTML; every value is escaped (the HTML environment autoescapes).
DEFAULT_HTML_BODY = """\
<div>
{%- if booking.candidate %}<p>Candidate: {{ booking.candidate.display }}</p>{% endif -%}
{%- if booking.customer %}<p>Customer: {{ booking.customer.display }}</p>{% endif -%}
{%- if booking.interviewers.size > 0 -%}
  <p>Interviewers: {{ booking.interviewers | map: "display" | join: ", " }}</p>
{%- endif -%}
{%- if booking.staff.size > 0 %}<p>Staff: {{ booking.staff | map: "display" | join: ", " }}</p>{% endif -%}
{%- if booking.when != "" -%}
  <p>When: {{ booking.when }}
  {%- for zone in booking.times offset: 1 -%}
    <br>{{ zone.when }}: {{ zone.attendees | map: "display" | join: ", " }}
  {%- endfor -%}
  </p>
{%- endif -%}
{%- if booking.location != "" %}<p>Where: {{ booking.location }}</p>{% endif -%}
{%- if booking.links.size > 0 -%}
  <ul>
  {%- for link in booking.links %}<li><a href="{{ link.url }}">{{ link.label }}</a></li>{% endfor -%}
  </ul>
{%- endif -%}
</div>"""
