// epoll(7), which Swift's Glibc module leaves out; the benchmark's notice listeners read a
// thousand sockets with it.
#include <sys/epoll.h>
