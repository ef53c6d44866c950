"""The test and operations harness around the street model: a private broker, a fault proxy,
fake firmware on a pty, the daemon as a process, an upstream consumer, the street live against
a running daemon, the demo and the soak. It may use everything; the street model uses none of
it."""
