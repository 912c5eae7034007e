//! The built-in list of 256 share-code words.
//!
//! Each word stands for one byte, so every word adds 8 bits of entropy. The
//! list is sorted, and chosen so that typing mistakes are recoverable:
//!
//! - 4 to 8 lowercase ASCII letters, common, easy to spell and to say;
//! - every word has its own 4-letter prefix, so `tige` can only mean `tiger`;
//! - any two words differ by at least 3 edits (optimal string alignment
//!   distance, where swapping two adjacent letters is one edit), so a word
//!   with one typo is still closer to its word than to any other;
//! - no word with one typo is a prefix (of 4 letters or more) of another word.
//!
//! The tests in `code/tests.rs` check all of these. Both peers must use the
//! same list (a peer with another list could reject or correct a word
//! differently), so changing it is a protocol change.

/// The share-code words, sorted; a word's index is the byte it encodes.
pub(crate) const WORDS: [&str; 256] = [
    "acorn", "almond", "alpaca", "amber", "anchor", "antelope", "apple", "apricot", "artist",
    "avocado", "badger", "balloon", "bamboo", "banana", "basket", "beaver", "beetle", "biscuit",
    "bison", "blossom", "branch", "bread", "breeze", "bridge", "brook", "brush", "buffalo",
    "button", "cabbage", "cactus", "camel", "canary", "candle", "canyon", "captain", "carpet",
    "cedar", "celery", "cereal", "chair", "cherry", "chess", "chicken", "chimney", "circus",
    "cliff", "cloud", "clover", "cocoa", "coffee", "compass", "cookie", "cowboy", "coyote", "crab",
    "creek", "crown", "crystal", "daisy", "dancer", "deer", "diamond", "dolphin", "domino",
    "donkey", "donut", "dragon", "drum", "duck", "eagle", "emerald", "engine", "falcon", "feather",
    "ferret", "festival", "finch", "firefly", "flamingo", "flute", "forest", "fossil", "fudge",
    "garden", "garlic", "gecko", "glacier", "globe", "gorilla", "grape", "guitar", "hamster",
    "harbor", "hedgehog", "helmet", "heron", "hill", "hippo", "holiday", "horizon", "hornet",
    "igloo", "island", "ivory", "jaguar", "jazz", "jelly", "jewel", "jigsaw", "journey", "jungle",
    "kangaroo", "kayak", "kitten", "kiwi", "koala", "lagoon", "lake", "lantern", "leaf", "legend",
    "lemur", "leopard", "lettuce", "lizard", "llama", "lobster", "lotus", "magnet", "mango",
    "marble", "marker", "meadow", "melody", "mink", "mirror", "moose", "moth", "mountain",
    "muffin", "mule", "music", "napkin", "noodle", "oatmeal", "ocean", "octopus", "olive", "onion",
    "opal", "opera", "orange", "orca", "ostrich", "otter", "panda", "parrot", "peacock", "peanut",
    "pebble", "pelican", "pencil", "penguin", "pepper", "perch", "petal", "piano", "pickle",
    "picnic", "pigeon", "piglet", "pirate", "pixel", "pizza", "pocket", "poem", "popcorn",
    "potato", "puma", "puppy", "puzzle", "python", "queen", "quilt", "rabbit", "radish", "raft",
    "rainbow", "raisin", "reindeer", "rhino", "ribbon", "rice", "riddle", "robin", "ruby",
    "safari", "salad", "shark", "sheep", "shield", "shovel", "shrimp", "silver", "skunk", "snail",
    "snow", "soccer", "soup", "spider", "spinach", "spiral", "spoon", "squash", "squid", "stamp",
    "starfish", "statue", "stone", "sugar", "sunrise", "sunset", "sushi", "swan", "sweater",
    "taco", "teacup", "teapot", "tent", "thunder", "tiger", "toad", "toucan", "trophy", "trout",
    "tunnel", "turkey", "turnip", "turtle", "umbrella", "unicorn", "valley", "vanilla", "viking",
    "violin", "volcano", "waffle", "walrus", "wasp", "whale", "window", "wolf", "yarn", "yellow",
    "yogurt", "zebra",
];
