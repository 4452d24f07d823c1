# Doxygen input filter for include/backprop.h, backprop_mpi.h and backprop_cuda.h
# (docs/Doxyfile.in): the headers' comments are plain C comments, written for readers of the
# headers; this turns them into Doxygen
# comments on the fly so that the headers need no markup. The file comment becomes the @file block,
# a comment that starts a line documents the declaration below it, a comment after code documents
# that code (/**<), and the section rules (/* ---- name */) stay plain comments.
1s|^/\*$|/** @file|
/^ *\/\* ---/b
s|^\( *\)/\* |\1/** |
s|\([^ ]\)\( *\)/\* |\1\2/**< |
