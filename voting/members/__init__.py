"""The member register: kretsar, föreningar and members."""
