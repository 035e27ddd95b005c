"""Word lists the rule-based stages read. Data, not logic: extend them here."""

EMOTIONS: dict[str, tuple[str, ...]] = {
    "anger": ("angry", "furious", "rage", "yells", "shouts", "screams", "slams", "hate", "damn"),
    "sadness": ("cry", "cries", "crying", "tears", "sob", "sobs", "grief", "sad", "mourn", "sorry", "lost", "miss"),
    "fear": ("afraid", "scared", "fear", "fearful", "terrified", "panic", "trembles", "stutter", "help"),
    "joy": ("laughs", "laugh", "smiles", "happy", "delighted", "grins", "love", "wonderful", "yes"),
    "surprise": ("gasps", "shocked", "stunned", "what", "whoa", "wow"),
    "tenderness": ("softly", "gently", "whispers", "hugs", "kiss", "kisses", "holds", "tender"),
}

# Parentheticals and words that push a line's emotional intensity up.
INTENSE_WORDS = frozenset(
    w for words in EMOTIONS.values() for w in words if w not in ("yes", "what", "holds", "miss")
) | {"screaming", "desperate", "pleading", "breaks", "breaking", "trembling", "choked", "forever", "never", "goodbye", "please", "whispering", "quietly", "smiling", "died", "die"}

PHYSICS: dict[str, tuple[str, ...]] = {
    "water": ("water", "wave", "waves", "sea", "ocean", "rain", "river", "splash", "flood", "swim", "pool"),
    "fire": ("fire", "flames", "burning", "burns", "smoke", "blaze"),
    "fight": ("fight", "punch", "punches", "kick", "struggle", "wrestle", "grapple", "tackles", "shoves"),
    "crowd": ("crowd", "audience", "mob", "throng"),
    "vehicle": ("car", "truck", "boat", "helicopter", "helo", "train", "motorcycle", "skids", "crash", "crashes"),
    "explosion": ("explosion", "explodes", "blast", "debris"),
    "weather": ("storm", "wind", "gale", "lightning", "snow", "hail"),
    "falling": ("falls", "fall", "tumbles", "collapses", "jumps", "leaps", "climbs"),
}

COLOURS: dict[str, str] = {
    "black": "#1c1c1e", "white": "#ecebe6", "grey": "#7d7f83", "gray": "#7d7f83",
    "red": "#b3262e", "crimson": "#8e1b2a", "blue": "#2f5da8", "navy": "#1f2f56",
    "green": "#2f7a45", "olive": "#6b6b2e", "yellow": "#e0bd3a", "mustard": "#c59a2a",
    "orange": "#d9702a", "brown": "#6b4a2f", "tan": "#b08a5a", "beige": "#d6c4a0",
    "pink": "#d98aa6", "purple": "#6c3f8f", "teal": "#2a7f80", "gold": "#c9a23a",
    "silver": "#b9bcc2", "khaki": "#a69b6b", "denim": "#4a6a95", "yellow-slicker": "#e0bd3a",
}

HAIR_COLOURS: dict[str, str] = {
    "blonde": "#d8b96a", "blond": "#d8b96a", "red": "#a4452a", "auburn": "#8a3b22",
    "brown": "#5a3a22", "brunette": "#4a2e1c", "black": "#17130f", "dark": "#241a12",
    "grey": "#9a9a9a", "gray": "#9a9a9a", "white": "#e2e0da", "silver": "#c4c4c8",
}

SKIN_TONES: dict[str, str] = {
    "white": "#f1c9a5", "pale": "#f6d7bd", "fair": "#f3cfae", "black": "#6b4630",
    "dark": "#7a5038", "brown": "#9a6a48", "asian": "#e6bc92", "latina": "#c99470",
    "latino": "#c99470", "tan": "#c99470", "olive": "#c4a07a",
}

GARMENTS = (
    "suit", "dress", "jacket", "coat", "shirt", "uniform", "hoodie", "sweater", "t-shirt",
    "robe", "gown", "jeans", "overalls", "slicker", "raincoat", "cardigan", "blazer", "apron",
    "scarf", "vest", "jumpsuit", "parka", "blouse", "skirt",
)

BUILDS: dict[str, str] = {
    "lanky": "tall", "tall": "tall", "towering": "tall", "thin": "slight", "slight": "slight",
    "petite": "slight", "wiry": "slight", "small": "slight", "stocky": "broad", "burly": "broad",
    "heavy": "broad", "muscular": "broad", "broad": "broad", "big": "broad", "hulking": "broad",
}

# Cue-shaped lines that are the writer's instructions, not people.
NOT_A_NAME = frozenset({"WRITE", "BEFORE", "HERE", "AFTER", "NOTE", "TODO", "INSERT", "END", "TBD", "CONTINUED"})
