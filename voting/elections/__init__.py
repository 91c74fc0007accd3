"""Elections, their kretsar (contests) and their schedule."""
