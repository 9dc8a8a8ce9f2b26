"""Reading and writing: CoNLL, CoNLL-U and plain text, tokenisation, span tag schemes."""
