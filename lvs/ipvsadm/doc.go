// Package ipvsadm is lvsctl's ipvsadm 1.31: its command-line grammar, the
// checks it makes before touching the kernel, its listing and save formats,
// and its error texts and exit statuses, byte for byte.
//
// The grammar is libpopt's (ipvsadm 1.31 parses its arguments with
// poptGetContext/poptGetNextOpt), not getopt_long's: long options match
// exactly (no abbreviations), short options bundle (-Ln, -lnc), an option's
// value may be glued (-p300, -w=3, --weight=3) or the next argument, the
// optional value of -p is taken from the next argument unless that starts
// with '-', and arguments that are not options may appear anywhere.
//
// Parse turns one argument vector into a typed Command; Main runs a whole
// ipvsadm, ipvsadm-save or ipvsadm-restore invocation against a Kernel. The
// package touches the kernel only through the Kernel interface, so the real
// IPVS client (lvs/ipvs) and its in-memory fake (lvs/ipvs/ipvstest) both fit.
package ipvsadm
