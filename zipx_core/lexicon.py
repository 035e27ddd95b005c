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

# --- Reading people out of a script (zipx_core.bible) ---------------------------------------

# Words that give a person's sex where they name the person: in a cue ('ART GIRL',
# 'MRS. DALLOWAY'), an introduction ('ANNA, a woman in her sixties') or a relationship
# ("Tom's wife, ANNA"). Words that are not gendered today (hero, actor, host) are left out.
FEMALE_NOUNS = frozenset({
    "woman", "women", "girl", "lady", "mother", "mom", "mum", "mommy", "mama", "ma", "daughter", "wife",
    "sister", "grandmother", "grandma", "granny", "nana", "aunt", "auntie", "niece", "bride", "girlfriend",
    "widow", "queen", "princess", "nun", "waitress", "stewardess", "hostess", "mrs", "ms", "miss", "madam",
    "madame", "gal", "female", "landlady", "duchess", "empress", "countess", "fiancee", "goddess", "witch",
    "schoolgirl", "businesswoman", "policewoman", "chairwoman", "housewife", "stepmother", "stepdaughter",
    "stepsister", "godmother", "maid", "senora", "senorita", "lass", "matriarch", "sorceress", "mistress",
})
MALE_NOUNS = frozenset({
    "man", "men", "boy", "guy", "gentleman", "father", "dad", "daddy", "papa", "son", "husband", "brother",
    "grandfather", "grandpa", "gramps", "uncle", "nephew", "groom", "boyfriend", "widower", "king", "prince",
    "monk", "waiter", "steward", "mr", "sir", "lord", "male", "fellow", "bloke", "dude", "lad", "landlord",
    "duke", "emperor", "fiance", "wizard", "schoolboy", "businessman", "policeman", "chairman", "fireman",
    "stepfather", "stepson", "stepbrother", "godfather", "senor", "chap", "monsieur", "mister", "patriarch",
})
# Pronouns that point back at the person named before them. Object forms (him, and 'her'
# not followed by a noun) usually point at someone else ('MARY kisses him'), so they are
# not counted; 'her' before a noun is the possessive and counts.
FEMALE_PRONOUNS = frozenset({"she", "hers", "herself"})
MALE_PRONOUNS = frozenset({"he", "his", "himself"})
NOT_AFTER_POSSESSIVE = frozenset({
    "a", "an", "the", "to", "at", "in", "on", "with", "and", "or", "as", "by", "for", "from", "of", "up",
    "down", "off", "out", "away", "back", "again", "too", "that", "this", "if", "when", "but", "so", "than",
    "into", "over", "around", "behind", "go", "gently", "softly", "tightly", "close", "closer", "there", "here",
})
# Titles before a first name: skipped when the name is looked up in the name lexicon.
TITLES = frozenset({"MR", "MRS", "MS", "MISS", "DR", "PROF", "PROFESSOR", "SIR", "LADY", "LORD", "AUNT",
                    "UNCLE", "CAPTAIN", "CAPT", "DETECTIVE", "DET", "OFFICER", "AGENT", "FATHER", "SISTER",
                    "MOTHER", "SGT", "SERGEANT", "LT", "LIEUTENANT", "COLONEL", "COL", "GENERAL", "JUDGE",
                    "NURSE", "COACH", "PRINCE", "PRINCESS", "KING", "QUEEN", "OLD", "BIG", "LITTLE", "YOUNG"})

# Words gender_guesser lists as first names that in a cue are roles or articles.
NOT_FIRST_NAMES = frozenset({"THE", "A", "AN", "HERO", "GERMAN", "GENERAL", "MAJOR", "JUDGE", "CHANCE", "KING",
                             "QUEEN", "BOY", "DOCTOR", "DOC", "BOSS", "CHIEF", "PRIVATE", "CORPORAL"})

# A cue such as 'YOUNG MARY' is the same person as MARY at another age. The value is the
# age range drawn when the script gives none (a person should confirm it).
AGE_PREFIXES: dict[str, str] = {
    "YOUNG": "8-12", "YOUNGER": "8-12", "LITTLE": "6-9", "CHILD": "7-10", "KID": "7-10", "BABY": "0-2",
    "TEEN": "14-17", "TEENAGE": "14-17", "TEENAGED": "14-17", "ADOLESCENT": "13-16",
    "OLD": "68-76", "OLDER": "60-70", "ELDERLY": "72-80", "ADULT": "30-40",
}

# Cue endings written without brackets that say where the voice comes from, not who
# speaks: 'MARY V.O.', 'MARY ON PHONE'. ('MARY'S VOICE' is read separately.)
OFFSCREEN_CUE_ENDINGS = (
    "V.O.", "V.O", "VO", "V/O", "O.S.", "O.S", "OS", "O.C.", "O.C", "OC", "OFF", "OFFSCREEN", "OFF-SCREEN",
    "VOICE", "VOICEOVER", "VOICE-OVER", "VOICE OVER", "CONT'D", "CONT’D", "CONTD", "CONTINUED", "CONT.",
    "ON PHONE", "ON THE PHONE", "INTO PHONE", "INTO THE PHONE", "OVER PHONE", "ON TV", "ON THE TV",
    "ON RADIO", "ON THE RADIO", "OVER RADIO", "ON SCREEN", "ONSCREEN", "ON SPEAKER", "ON SPEAKERPHONE",
    "ON INTERCOM", "OVER INTERCOM", "ON VIDEO", "ON RECORDING", "RECORDING", "FILTERED", "PRE-LAP", "PRELAP",
    "THROUGH DOOR", "SUBTITLED", "WHISPERING", "SINGING", "ON TAPE", "ON MONITOR",
)
# Cues that name a crowd, not people to split a line between.
GROUP_CUES = frozenset({"ALL", "BOTH", "EVERYONE", "TOGETHER", "CROWD", "EVERYBODY", "THE TWO", "THEY"})

# Words that make a sentence about a person a description of their looks.
LOOK_WORDS = frozenset({
    "face", "eyes", "hair", "haired", "beard", "bearded", "moustache", "mustache", "stubble", "freckled",
    "freckles", "scar", "scarred", "glasses", "spectacles", "tall", "short", "lanky", "stocky", "burly",
    "slight", "petite", "wiry", "muscular", "heavy", "thin", "skinny", "plump", "pretty", "handsome",
    "attractive", "beautiful", "rugged", "wrinkled", "weathered", "pale", "tanned", "bald", "balding",
    "grey", "gray", "blonde", "blond", "brunette", "redhead", "tattoo", "tattooed", "piercing", "pierced",
    "looking", "features", "complexion", "skin", "smile", "cheekbones", "jaw", "build", "dressed", "wears",
    "wearing", "elegant", "scruffy", "unshaven", "ponytail", "braids", "dreadlocks", "curly", "curls",
    "eyed", "faced", "skinned", "shouldered", "youthful", "elderly", "aged", "gaunt", "frail",
    "sturdy", "athletic", "chubby", "slender", "lean", "striking", "rumpled", "disheveled", "dishevelled",
})

# Words that put an age on a person where the script gives no number: in the apposition
# ('BRICK, retired police detective') or right before the name.
AGE_WORDS: dict[str, str] = {
    "retired": "60-70", "retiree": "60-70", "pensioner": "65-75", "elderly": "70-80", "aging": "55-65",
    "ageing": "55-65", "middle-aged": "45-55", "youthful": "20-29", "teenage": "14-17", "teenaged": "14-17",
    "teenager": "14-17", "adolescent": "13-16", "schoolgirl": "8-12", "schoolboy": "8-12", "toddler": "2-3",
    "infant": "0-1", "newborn": "0-1",
}
# Only right before the name ('a young ART GIRL', 'the old GURU'): elsewhere they are
# often someone else's ("Mary's old friend, TOM").
AGE_ADJECTIVES: dict[str, str] = {"young": "20-29", "old": "65-75", "elderly": "70-80"}

# Cyrillic letters in Latin, so that the first-name lexicon (Latin only) can read МАША as Masha.
CYRILLIC_LATIN = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґ",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t", "u",
     "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya", "i", "yi", "ye", "g"], strict=True,
))

# Spoken numbers up to twenty, for 'a ten-year-old' and 'MARY, eight,'.
NUMBER_WORDS: dict[str, int] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
}
# 'thirties' -> 30; 'teens' -> 13 (the teen years run 13-19).
DECADE_WORDS: dict[str, int] = {
    "teens": 13, "twenties": 20, "thirties": 30, "forties": 40, "fifties": 50, "sixties": 60,
    "seventies": 70, "eighties": 80, "nineties": 90,
}
