from notification_sink.server import main

main()
