# cmake -DIN=file -DOUT=out.cpp -DSYMBOL=name -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR size "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," body "${hex}")
file(WRITE "${OUT}" "// generated from ${IN}\nextern const char ${SYMBOL}[] = {${body} 0};\nextern const unsigned long ${SYMBOL}_size = ${size};\n")
