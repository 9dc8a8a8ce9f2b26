"""Write the small NER and POS samples in this folder from hand-written templates.

The samples exist for tests and README examples; they are not real corpora.
Run `python data/make_samples.py` to regenerate them (the output is deterministic).
"""

import random
from pathlib import Path

HERE = Path(__file__).parent
PEOPLE = [
    ["Ada", "Lovelace"],
    ["Alan", "Turing"],
    ["Grace", "Hopper"],
    ["Maria"],
    ["Jon", "Snow"],
    ["Karen", "Spärck", "Jones"],
    ["Li", "Wei"],
    ["Omar"],
    ["Sofia", "Kovalevskaya"],
    ["Ravi"],
]
PLACES = [
    ["London"],
    ["Paris"],
    ["New", "York"],
    ["Tokyo"],
    ["Lagos"],
    ["São", "Paulo"],
    ["Berlin"],
    ["Cape", "Town"],
    ["Oslo"],
    ["Lima"],
]
ORGS = [
    ["Acme", "Corp"],
    ["the", "United", "Nations"],
    ["Globex"],
    ["Initech"],
    ["Red", "Cross"],
    ["Oxford", "University"],
    ["Umbrella", "Ltd"],
]
MISC = [["English"], ["French"], ["Olympic"], ["Nobel", "Prize"], ["Japanese"]]
NER_TEMPLATES = [
    "{PER} was born in {LOC} .",
    "{PER} works for {ORG} in {LOC} .",
    "{ORG} opened an office in {LOC} on Monday .",
    "{PER} met {PER} at the {MISC} festival .",
    "The {MISC} team beat {ORG} 3-1 .",
    "{PER} said {ORG} would hire 200 people .",
    "Rain is expected in {LOC} and {LOC} .",
    "{PER} speaks {MISC} .",
    "Shares in {ORG} fell 4.5 percent .",
    "It was a quiet day .",
]


ENGLISH = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS, "MISC": MISC}
# A Spanish-like sample: `¿ ... ?`, abbreviations the data keeps whole (`Sra.`, `EE.UU.`),
# a decimal comma.
SPANISH = {
    "PER": [["García"], ["Ana", "Pérez"], ["Luis", "Gómez"], ["Marta"], ["José", "Ruiz"]],
    "LOC": [["Sevilla"], ["Madrid"], ["EE.UU."], ["Buenos", "Aires"], ["Bilbao"]],
    "ORG": [["Telefónica"], ["la", "ONU"], ["el", "Real", "Madrid"], ["Iberia"]],
    "MISC": [["español"], ["Goya"], ["Liga"]],
}
SPANISH_TEMPLATES = [
    "¿ Dónde vive el Sr. {PER} desde que volvió de {LOC} ?",
    "La Sra. {PER} trabaja en {ORG} .",
    "{PER} nació en {LOC} .",
    "¡ {ORG} ganó la {MISC} !",
    "El paro bajó un 3,5 por ciento en {LOC} .",
    "{ORG} abrió una oficina en {LOC} el lunes .",
    "La Sra. {PER} y el Sr. {PER} llegaron de {LOC} .",
    "Hace frío hoy .",
]


def fill(template, rng, lexicon=ENGLISH):
    tokens, tags = [], []
    for word in template.split():
        if word.startswith("{") and word.endswith("}"):
            kind = word[1:-1]
            pool = lexicon[kind]
            entity = rng.choice(pool)
            tokens += entity
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
        else:
            tokens.append(word)
            tags.append("O")
    return tokens, tags


def write_ner(path, count, seed, templates=NER_TEMPLATES, lexicon=ENGLISH):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        out.write("-DOCSTART-\tO\n\n")
        for _ in range(count):
            tokens, tags = fill(rng.choice(templates), rng, lexicon)
            out.writelines(f"{t}\t{g}\n" for t, g in zip(tokens, tags, strict=True))
            out.write("\n")


POS_SENTENCES = [
    "The/DET cat/NOUN sat/VERB on/ADP the/DET mat/NOUN ./PUNCT",
    "She/PRON reads/VERB two/NUM books/NOUN every/DET week/NOUN ./PUNCT",
    "I/PRON do/AUX n't/PART like/VERB cold/ADJ coffee/NOUN !/PUNCT",
    "We/PRON quickly/ADV walked/VERB to/ADP the/DET station/NOUN ./PUNCT",
    "My/PRON brother/NOUN and/CCONJ I/PRON play/VERB chess/NOUN ./PUNCT",
    "Is/AUX this/DET your/PRON bag/NOUN ?/PUNCT",
    "They/PRON have/AUX finished/VERB the/DET report/NOUN ./PUNCT",
    "A/DET small/ADJ dog/NOUN barked/VERB loudly/ADV ./PUNCT",
    "Paris/PROPN is/AUX a/DET beautiful/ADJ city/NOUN ./PUNCT",
    "He/PRON will/AUX call/VERB you/PRON tomorrow/NOUN ./PUNCT",
    "Oh/INTJ ,/PUNCT that/PRON is/AUX great/ADJ !/PUNCT",
    "The/DET price/NOUN rose/VERB by/ADP 5/NUM %/SYM ./PUNCT",
]


def write_pos(path, count, seed):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        for number in range(1, count + 1):
            pairs = [w.rsplit("/", 1) for w in rng.choice(POS_SENTENCES).split()]
            out.write(f"# sent_id = sample-{seed}-{number}\n")
            out.write(f"# text = {' '.join(w for w, _ in pairs)}\n")
            for i, (word, tag) in enumerate(pairs, start=1):
                out.write(f"{i}\t{word}\t_\t{tag}\t_\t_\t_\t_\t_\t_\n")
            out.write("\n")


def write_vectors(path, dim, seed):
    """GloVe-style text vectors for the lowercased sample words, in a made-up frequency order."""
    rng = random.Random(seed)
    words = dict.fromkeys(
        w.lower() for pool in (PEOPLE, PLACES, ORGS, MISC) for entity in pool for w in entity
    )
    words.update(dict.fromkeys(w.lower() for t in NER_TEMPLATES for w in t.split() if "{" not in w))
    with open(path, "w", encoding="utf-8") as out:
        for word in words:
            out.write(word + " " + " ".join(f"{rng.uniform(-1, 1):.4f}" for _ in range(dim)) + "\n")


if __name__ == "__main__":
    write_ner(HERE / "ner-train.conll", 120, 1)
    write_ner(HERE / "ner-dev.conll", 30, 2)
    write_pos(HERE / "pos-train.conllu", 80, 3)
    write_pos(HERE / "pos-dev.conllu", 20, 4)
    write_vectors(HERE / "vectors.txt", 16, 5)
    write_ner(HERE / "es-ner-train.conll", 120, 6, SPANISH_TEMPLATES, SPANISH)
