# Writes the bytes of IN as a NUL-terminated C array to OUT, named NAME
# (default rf_schema_json).
if(NOT DEFINED NAME)
  set(NAME rf_schema_json)
endif()
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* Generated from ${IN}; do not edit. */\nconst char ${NAME}[] = {\n${body}0x00};\n")
