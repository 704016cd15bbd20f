from drift_monitor.server import main

main()
