"""The Speech Commands v0.02 layout: words, keywords, class names, file names, audio format."""

SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # every clip is at most one second; shorter ones are zero-padded
WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
    "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one",
    "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow",
    "yes", "zero",
)  # fmt: skip
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
BACKGROUND_NOISE = "_background_noise_"
TEST_SET_FOLDER = "speech_commands_test_set_v0.02"  # the official 12-class test archive's folder
VALIDATION_LIST = "validation_list.txt"
TESTING_LIST = "testing_list.txt"
#: Where the data set is extracted unless told otherwise (relative to the working directory).
DEFAULT_ROOT = "data/speech_commands_v0.02"
# What each extracted archive holds, as error messages describe it.
DATA_SET_CONTENTS = (
    "the extracted speech_commands_v0.02.tar.gz (35 word folders, _background_noise_/, "
    "validation_list.txt, testing_list.txt)"
)
TEST_SET_CONTENTS = (
    "the extracted speech_commands_test_set_v0.02.tar.gz (one folder of clips per class: "
    "_silence_, _unknown_ and the 10 keywords)"
)
