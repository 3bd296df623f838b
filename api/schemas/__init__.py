"""Shapes of the API: ``*In`` schemas load request bodies, ``*Out`` schemas dump
responses. Cross-field rules live in ``@validates_schema``; nothing here queries
the database or reads the request.

One module per resource (board, cases, common, conduct, dispatch, field, jobs, money,
organisation, route, users); import a schema from its module."""
