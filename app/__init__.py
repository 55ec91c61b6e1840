"""rung: which rung of the LLM ladder does your task need?"""

__version__ = "0.2.0"
