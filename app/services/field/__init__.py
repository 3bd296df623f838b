"""The day at the door: the agent's route (``agent_route``), the field actions coming in
(``events``: once, stored with their answer, judged on the server's clock), the work of
each action — check-in, check-out, the visit's outcome — (``visits``), and the visit's
recordings (``recordings``).
"""
