"""`fabro run`: a workflow executed in this process, with terminal progress and prompts."""
