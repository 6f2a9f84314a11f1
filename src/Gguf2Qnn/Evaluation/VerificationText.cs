namespace Gguf2Qnn.Evaluation;

/// <summary>
/// The default text of <c>gguf2qnn verify</c>: short children's stories in the simple style of the TinyStories data
/// set (small vocabulary, short sentences), written for this project (not taken from the data set). About 3,900
/// characters, over 900 tokens for a 512-token SentencePiece vocabulary such as stories260K's.
/// </summary>
public static class VerificationText
{
    /// <summary>The stories, separated by blank lines.</summary>
    public const string ShortStories =
        "Once upon a time, there was a little girl named Mia. Mia had a red ball that she loved very much. Every day she " +
        "took the ball to the park and played with her friend Tom. One day, the ball rolled away and fell into the pond. " +
        "Mia was sad and she started to cry. Tom said, \"Do not cry, Mia. I will help you.\" Tom found a long stick under " +
        "a big tree. He reached out with the stick and pushed the ball back to the grass. Mia was so happy. She gave Tom " +
        "a big hug and said, \"Thank you, Tom! You are a good friend.\" They played with the ball until the sun went down.\n\n" +
        "Once upon a time, there was a small dog called Max. Max lived in a yellow house with a kind old man. The old man " +
        "liked to sit in the garden and read his book. Max liked to run after the birds. One morning, Max saw a bird with " +
        "a hurt wing. The bird could not fly. Max did not bark at the bird. He sat next to it and waited. The old man came " +
        "out and saw the bird too. He put it in a little box with soft leaves and gave it some water. After a few days, " +
        "the bird was well again. It flew up into the blue sky and sang a happy song. Max wagged his tail. He had made a " +
        "new friend.\n\n" +
        "Lily and her mom went to the store to buy some food. Lily wanted to help, so her mom gave her a basket. Lily put " +
        "an apple, a loaf of bread and some milk in the basket. Then she saw a shiny toy car on a shelf. \"Mom, can I have " +
        "the car?\" she asked. Her mom smiled and said, \"Not today, Lily. But you can help me cook dinner.\" Lily was a " +
        "little sad, but she liked to cook. At home, they made soup with carrots and peas. The soup was warm and yummy. " +
        "Lily ate two bowls. She forgot all about the toy car.\n\n" +
        "Ben was a brave boy who wanted to see the big hill behind his house. One sunny day, he packed a bag with a " +
        "sandwich and a bottle of water. He walked and walked. The hill was very high, and his legs got tired. He sat on " +
        "a rock to rest and ate his sandwich. A little rabbit hopped out of the grass and looked at him. Ben gave the " +
        "rabbit a small piece of bread. The rabbit ate it and hopped away up the hill. Ben followed the rabbit all the way " +
        "to the top. From there he could see his house, the river and the whole town. He felt proud and happy.\n\n" +
        "There was once a cat named Kitty who did not like the rain. When it rained, Kitty hid under the bed. One day, " +
        "it rained for a long time. Kitty was bored. She looked out of the window and saw a boy jumping in the puddles. " +
        "The boy was laughing and his boots made big splashes. Kitty thought, \"Maybe the rain is fun.\" She went to the " +
        "door and put one paw outside. The water was cold! Kitty ran back inside and shook her fur. She decided that the " +
        "rain was fun to watch, but not fun to touch. She curled up on the warm rug and went to sleep.\n\n" +
        "Sam had a little boat made of wood. His grandpa made it for his birthday. Sam and his grandpa took the boat to " +
        "the lake. Sam put the boat on the water and gave it a soft push. The wind blew and the boat sailed far away. " +
        "\"Oh no, my boat!\" said Sam. Grandpa laughed and said, \"Wait and see.\" The wind changed, and the boat came " +
        "back to the shore. Sam picked it up and held it tight. \"Thank you, wind,\" he said. Grandpa and Sam sat by the " +
        "lake and watched the ducks swim. It was the best birthday ever.\n\n" +
        "Anna found a seed in the garden. She asked her dad, \"What is this?\" Her dad said, \"It is a seed. If you plant " +
        "it and give it water, it will grow.\" Anna dug a small hole and put the seed inside. She covered it with dirt and " +
        "gave it water every day. At first, nothing happened. Anna was patient. Then one morning she saw a tiny green leaf. " +
        "The leaf grew and grew, and soon there was a tall plant with a big yellow flower. Anna was so proud. She showed " +
        "the flower to all her friends and told them how she helped it grow.\n";
}
