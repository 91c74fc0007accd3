"""The voter's side: the electoral roll, contest keys, voting links, blind signing and the board."""
