from feature_store.server import main

main()
