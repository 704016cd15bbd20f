from inference_gateway.server import main

main()
