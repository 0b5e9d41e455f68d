"""REST benchmark: the bookstore's list endpoint against a hand-written equivalent."""
