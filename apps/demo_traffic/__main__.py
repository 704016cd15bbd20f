from demo_traffic.traffic import main

main()
