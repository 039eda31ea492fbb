"""The board: the coordinators' and supervisors' pages, server-rendered, over the other services' APIs."""
