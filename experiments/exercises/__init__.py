"""Exercises: the project becomes the assignment (``tinygrad-lite exercise {list,make,check,grade}``).

``course``: the ordered tasks, each naming the functions it blanks; ``stubs``: writes a student copy
with those bodies replaced through the syntax tree; ``checks``: torch-free checks of each task
(finite differences in float64, known values, the real training run); ``grade``: one row per copy.
"""
