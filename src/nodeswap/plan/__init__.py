"""Planning as data: the plan's model, the spec, the rules (R7-R17), building a plan from
a zone and a spec, the preflight's verdicts, the plan file. Pure: no I/O (test_purity.py).
"""
