"""A solution written in the style of the original course's package (see its centernet/ folder).

Used by tests/centernet/test_original_api.py: it must grade full marks on the automatic component
checks with only its import lines adapted (``from .convert import ...`` instead of the original's
absolute package name).
"""
