"""Language codes shared by the tests of the language tables and labels."""


CORPUS_CODES = (
    "am ar az be bg bn ca cs da de el en es et eu fa fi fr gu he hi hr hu hy is it ja ka "
    "kn ko ku lt lv ml mr ms nl no or pa pl pt ro ru sk sl sq sr sv ta te th tl tr uk ur "
    "vi yo zh"
).split()
